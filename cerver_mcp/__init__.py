"""cerver-mcp: Cerver's tools for agents over MCP — sessions as memory
(list, peek, export) and secret_fetch from the configured secrets backend."""
