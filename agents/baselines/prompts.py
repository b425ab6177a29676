"""Prompts of the baseline agents, in one place."""

SYSTEM = (
    "You are an agent playing a {kind} game. You reach the goal by choosing one action at a time "
    "from the list of valid actions."
)

FULL_HISTORY_USER = """Goal: {objective}

History of your observations and actions so far:
{history}

Current observation:
{observation}

Valid actions:
{actions}

Reply with exactly one action from the list of valid actions and nothing else."""
