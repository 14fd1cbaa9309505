"""The workstation daemon: one resident runtime Engine shared by every editor window.

protocol (framing, version, job/result maps) · paths (socket location and privacy checks) ·
limits (who may connect: SO_PEERCRED; what each peer may hold) · scheduler (fair queue,
latest-wins) · server (asyncio socket server) · connection (one client connection) · client
(RemoteEngine: reconnects off the caller's thread, connect_or_start) · spawn (start on demand) ·
logfile (the bounded log) · cli (`seed-lsp daemon [status|stop]`). See docs/daemon-protocol.md.
"""
