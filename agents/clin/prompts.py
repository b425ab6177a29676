"""CLIN's prompts, written for this lab from the structure of the paper and the released code.

Actor (one call per step, up to 3 with grounding retries): system persona; task framing with the
numbered learnings; the last steps as chat turns; then the current location, inventory, possible
actions and the output protocol ``ids $$$ rationale ### action``. Generator (one call per trial):
instruction, previous learnings (last k trials, each with its reward), the current trace.
"""

SYSTEM = (
    "You are an AI agent playing a text adventure game: a simulated world with a limited set of "
    "objects and actions. You complete the task by choosing one action at a time."
)

TASK = "Your task: {objective}"

MEMORY = """Here is a summary of learnings from your earlier attempts at this task in this world. \
Each one has one of these forms: "X MAY BE NECESSARY to Y", "X SHOULD BE NECESSARY to Y", \
"X MAY NOT CONTRIBUTE to Y", "X DOES NOT CONTRIBUTE to Y".
{learnings}"""

MEMORY_META = """Here is a summary of learnings from {where}: only some of them may apply here. \
Each one has one of these forms: "X MAY BE NECESSARY to Y", "X SHOULD BE NECESSARY to Y", \
"X MAY NOT CONTRIBUTE to Y", "X DOES NOT CONTRIBUTE to Y".
{learnings}"""

WHERE_ENV = "other worlds where you did the same task"
WHERE_TASK = "other tasks you did"

HISTORY = "Below you can see the most recent history of your actions."

SELECTED = "Selected action: {action}"
NEXT = "What action would you like to do next?"

CURRENT = """{opening}Where you are: {location}
What you carry: {inventory}

Possible actions:
{actions}
"""

PROTOCOL = """First scan the learnings above (they are not in any order) and decide which ones apply to \
the last observation. Build your rationale on them, or on the observation if none applies. Then reply \
in exactly this format, on one line:
I used learning id(s): <comma-separated ids, or none> $$$ <your rationale> ### <one action>
The action must be one of the possible actions. When the task is done, write TASK_COMPLETE as the action."""

SCORE_CUE = "Reply with the next action only."

ERROR = "ERROR: {problem}"
UNMATCHED = "'{action}' cannot be matched to a valid action. Rephrase it as one of the possible actions."
MALFORMED = "your reply did not follow the format 'I used learning id(s): ... $$$ rationale ### action'."

GENERATOR_SYSTEM = "You are an expert assistant."

GENERATOR_INSTRUCTION = """You are given the CURRENT TRACE of an agent that tried a task in a text \
game: the task, then each action it took with the observation that followed, and an EVALUATION REPORT \
(REWARD_FINAL and what it means). You are also given PREVIOUS LEARNINGS from earlier attempts at the \
same task in the same world, each with its own evaluation report.

Write a numbered list of learnings that will help the agent solve the SAME task AGAIN in the SAME \
world. Every item must have exactly one of these forms, where X and Y are actions or outcomes:
X MAY BE NECESSARY to Y
X SHOULD BE NECESSARY to Y
X MAY NOT CONTRIBUTE to Y
X DOES NOT CONTRIBUTE to Y
Use SHOULD / DOES NOT for what the traces confirm, MAY for what they only suggest. Keep the useful \
previous learnings, make them more certain when the current trace confirms them, and drop the ones it \
shows to be wrong. Output only the list."""

GENERATOR_RECORD = """TASK: {objective}
EPISODE: {trial}
LEARNINGS:
{learnings}
REWARD_FINAL: {score}. This means: {verbal}"""

META_SYSTEM = GENERATOR_SYSTEM

META_INSTRUCTION = """Below are the learnings an agent kept from its best attempt in each of several \
text-game episodes. Generalise them into one numbered list of learnings that would help in a NEW \
episode (another world or another task): replace specific objects and places by what they have in \
common, keep what several episodes agree on. Every item must have exactly one of these forms:
X MAY BE NECESSARY to Y
X SHOULD BE NECESSARY to Y
X MAY NOT CONTRIBUTE to Y
X DOES NOT CONTRIBUTE to Y
Output only the list.

{episodes}"""

MEMORY_HEADING_END = '"X DOES NOT CONTRIBUTE to Y".\n'
"""The end of the heading of :data:`MEMORY` and :data:`MEMORY_META`; the numbered learnings follow."""
