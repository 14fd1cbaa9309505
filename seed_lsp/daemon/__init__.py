"""The workstation daemon: one resident runtime Engine shared by every editor window.

protocol (framing, version, job/result maps) · paths (socket location and privacy checks) ·
scheduler (fair queue, latest-wins) · server (asyncio socket server) · client (RemoteEngine,
connect_or_start) · cli (`seed-lsp daemon [status|stop]`). See docs/daemon-protocol.md.
"""
