"""HiAgent's prompts, written for this lab from the structure in the paper and the released code.

Structure (reference §3): task instruction + the HiAgent note on subgoals and its four rules,
one few-shot trajectory, the goal line with the pseudo-commands, then the serialised working
memory. The few-shot example is our own, written from a tw-cooking walkthrough.
"""

SYSTEM = (
    "You are an agent playing a text adventure game. You reach the goal by typing one command at a time, "
    "such as 'go north', 'open fridge', 'take apple from counter' or 'inventory'."
)

NOTE_GENERATE = """Work in subgoals. A subgoal is one milestone on the way to the final goal.
- While the current subgoal is not finished, reply with one line: Action: <command>
- When there is no subgoal yet, or the past actions and observations show that the current one is finished, \
reply with two lines: Subgoal: <the next subgoal> and then Action: <its first command>
Rules:
1. Never write two subgoals in a row.
2. A subgoal is one line.
3. Every subgoal is followed by at least one action. When an action fails, send "check valid actions" \
and pick a command from the list it returns.
4. The details of finished subgoals are hidden. Send "retrieve(<ids>)", e.g. retrieve(1, 3), \
to see them again."""

NOTE_SCORE = """The game is played in subgoals: finished subgoals are summarised in one observation, \
the current subgoal shows every action and observation. Reply with the next command only."""

EXAMPLE = """Goal: Prepare and eat the meal of the cookbook.
Observation: You are in a kitchen. You see a fridge, a counter with a cookbook on it, and a stove.
1 Subgoal: Read the recipe in the cookbook.
Action: examine cookbook
Observation: Recipe #1. Gather all following ingredients: carrot. Directions: slice the carrot, prepare meal.
2 Subgoal: Get the carrot.
Action: take carrot
Observation: You can't see any such thing.
Action: check valid actions
Observation: Valid actions: open fridge, examine cookbook, take knife from counter, look, inventory
Action: open fridge
Observation: You open the fridge, revealing a carrot.
Action: take carrot from fridge
Observation: You take the carrot from the fridge. Your score has just gone up by one point.
3 Subgoal: Slice the carrot with the knife.
Action: slice carrot with knife
Observation: Cutting something requires a knife.
Action: retrieve(2)
Observation: Trajectory of subgoal 2 (Get the carrot.):
Action: take carrot
Observation: You can't see any such thing.
Action: check valid actions
Observation: Valid actions: open fridge, examine cookbook, take knife from counter, look, inventory
Action: open fridge
Observation: You open the fridge, revealing a carrot.
Action: take carrot from fridge
Observation: You take the carrot from the fridge. Your score has just gone up by one point.
Action: take knife from counter
Observation: You take the knife from the counter.
Action: slice carrot with knife
Observation: You slice the carrot. Your score has just gone up by one point.
4 Subgoal: Prepare and eat the meal.
Action: prepare meal
Observation: Adding the meal to your inventory. Your score has just gone up by one point.
Action: eat meal
Observation: You eat the meal. Delicious! Your score has just gone up by one point. You won!"""

EXAMPLE_SECTION = """Here is an example:
{example}

"""

USER = """{note}

{example}You should perform actions to accomplish the goal: {goal}
Send "check valid actions" to list the commands that work now, and "inventory" to see what you carry.

{memory}
{cue}"""

CUE_GENERATE = ""
CUE_SCORE = "Next command:"

ERROR = (
    "ERROR: {problem} Reply again, with a line 'Action: <command>' "
    "(after a 'Subgoal: ...' line if you start a new subgoal)."
)

SUBGOAL_USER = """You are playing a text adventure game. Goal: {goal}

{memory}

The previous subgoal is finished or no longer useful. State the next subgoal: one short milestone \
towards the goal, on one line.
Subgoal:"""

SUMMARY_SYSTEM = (
    "You summarise a series of actions and observations from a text adventure game and judge whether a "
    "given subgoal was met. If no useful action was taken, say why."
)

SUMMARY_USER = """##Trajectory
{trajectory}

##Subgoal
{subgoal}

Give one line: a concise summary of what happened that matters for the subgoal, and whether the \
subgoal was met."""

MEMORY_MARK = 'to see what you carry.\n\n'
"""Where the working memory starts in :data:`USER` (the text before ``{memory}``)."""
