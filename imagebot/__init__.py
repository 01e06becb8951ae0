"""imagebot: image-update automation for GitOps repositories."""

__version__ = "0.1.0"
