"""The ground layer: what envs and agents stand on.

Records and their schema version, the agent, memory and env protocols, errors, settings, prompt
slots, snapshot diffs, module collection, versions, the LLM layer (``lab.core.llm``) and the torch
policy core (``lab.core.policy``). Modules here import only each other and third-party packages,
never ``envs``, ``agents`` or the rest of ``lab``; ``tests/test_layers.py`` walks the imports.
"""
