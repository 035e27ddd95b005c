from zipx_core.providers.local import LocalRenderer

__all__ = ["LocalRenderer"]
