"""Serial link to sensor and lamp node firmware: a pure codec and an asyncio transport."""
