"""The typed LLM helper and the chat backends behind it."""
