"""The clustering agent: config, typed LLM helper, LangGraph nodes and graph."""
