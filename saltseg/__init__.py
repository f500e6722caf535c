"""saltseg: segment salt bodies in seismic images with a UNet."""

__version__ = "0.1.0"
