# Loaded before anything else: nameko runs on eventlet, and sockets must be green before any
# test (or library) opens one. `nameko run` does this itself; plain pytest does not.
import warnings

warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()
