"""A relay agent (cli/relay.py) run in the test's own loop against a live stack."""
import asyncio
import contextlib

from cli import relay as relay_agent


@contextlib.asynccontextmanager
async def connected_agent(api, key: str, provider, state_file, name: str = "test-agent", socket_url: str = ""):
    """Yields the agent once its socket is up; stops it and its provider after."""
    state = relay_agent.State(state_file, api.base)
    state.api_key = key
    agent = relay_agent.Agent(api.base, name, state, provider, socket_url=socket_url)
    task = asyncio.create_task(agent.run())
    try:
        for _ in range(100):
            if agent.connected:
                break
            await asyncio.sleep(0.1)
        assert agent.connected
        yield agent
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await provider.close()
