"""gitops-release: ship one immutable image through Git with Argo CD, and tell GitHub what happened."""

__version__ = "0.1.0"
