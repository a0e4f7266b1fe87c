"""Assistente Tasks: a Postgres-native task queue for AI work.

Library use (see `app.queue` for the whole surface):

    from app.queue import HandlerRegistry, Queue, TaskContext

    registry = HandlerRegistry()

    @registry.handler("summarise")
    async def summarise(ctx: TaskContext) -> dict:
        ...

    async with Queue.connect("postgresql://...") as queue:
        tenant = await queue.ensure_tenant("acme")
        await queue.enqueue(tenant, "summarise", {"prompt": "..."})
        await queue.run_worker(registry, stop=stop_event)
"""
