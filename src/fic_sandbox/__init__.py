"""A local stand-in for the Fatture in Cloud API: the demo's default FiC and the tests' server.

Start it with ``fic sandbox`` or ``with SandboxServer() as sandbox:`` (see docs/sandbox.md).
"""
