from cerver_mcp.server import main

main()
