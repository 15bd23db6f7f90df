# Lets the stub below share the `azure` package with Debian's Azure SDK.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
