"""translation_zoo: image-to-image translation models behind one Lightning API."""
__version__ = "0.1.0"
