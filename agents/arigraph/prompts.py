"""Every prompt of Ariadne and its baselines, written for this lab.

They follow the structure and key instructions of the reference prompts (AIRI-Institute/AriGraph
@e884b76, ``prompts/prompts.py`` and ``prompts/system_prompts.py``) as paraphrased in the spec; the
wording is our own. Rendered with :func:`lab.core.prompts.render` (missing or unused slots are errors).
"""


ASSISTANT = "You are a helpful assistant."

ENTITIES = """Observation:
{observation}

Current plan:
{plan}

List the objects, places and ideas in the observation and the plan that are worth looking up in your \
memory to choose the next step. Leave out directions and exits. Give each one a relevance of 1 (look up \
the thing itself) or 2 (also look up what it is connected to). Reply with one JSON object, for example \
{{"red key": 2, "kitchen": 1}}."""

EXTRACT = """Build a knowledge graph from a text game observation. Write facts as triplets "subject, \
relation, object", separated by semicolons.

Rules:
- Split complex facts into simple ones; each triplet has at most 7 words.
- Subject and object are single things (a name, an item, a place); the relation may be several words.
- Mark guesses as hypotheses.
- When the player takes an item, write only "item, is in, inventory".
- Keep facts written in notes and books; for something read, write "X, contains, what it says".
- Link a place to its exits as "place, has exit, direction".
- Say what a tool or appliance does with "used for" ("knife, used for, slicing"; "stove, used for, \
frying"), what a goal, recipe or lock needs with "requires" ("recipe, requires, red apple"), and how an \
ingredient must end up with "to be" ("red apple, to be, sliced").
- Never write "you, are in, place", and never use "none" as a subject or object.
- Reuse the names of these known facts when they refer to the same things: {examples}

Observation:
{observation}

Triplets:"""

REFINE = """Some facts in memory may be out of date after the latest observation. Below are facts from \
memory and new facts. For each memory fact that a new fact replaces, write a pair "[old fact -> new \
fact]". Replace only facts that say the same kind of thing about the same entity (where it is, whether \
it is open), or that contradict the new fact; one new fact may replace several old ones. If unsure, \
keep the old fact. Reply with a list such as [[apple, is on, table -> apple, is in, inventory], [door, \
is, closed -> door, is, open]], or [] when nothing is out of date.

Facts from memory: {existing}
New facts: {new}

Replacements:"""

EXPLORE_SYSTEM = """You read a plan made of sub-goals. Answer True if carrying it out requires \
exploring, finding or locating something, and False otherwise. Answer with one word: True or False."""

EXPLORE_USER = """Plan:
{plan}"""

PLAN_SYSTEM = """You are the planner of an agent that plays a text game. Keep a short plan of sub-goals \
that leads to the main goal; give each sub-goal a reason. Do not reword or reorder a sub-goal until it \
is done or no longer useful: update its reason to track progress. Before marking a "get an item" \
sub-goal as done, check that the item is in the inventory. Use the inventory and the memory. Keep at \
least one sub-goal. Reply with one JSON object:
{{"main_goal": "...", "plan_steps": [{{"sub_goal_1": "...", "reason": "..."}}, {{"sub_goal_2": "...", \
"reason": "..."}}], "your_emotion": {{"your_current_emotion": "...", "reason_behind_emotion": "..."}}}}"""

ACT_SYSTEM = """You choose the next action of an agent that plays a text game. Pick exactly one action \
from the list of possible actions. Serve the main goal first, then sub_goal_1, sub_goal_2 and so on; \
prefer a sub-goal that one action can achieve right now. Use "go to <location>" to reach a known place \
more than one step away. When exploring, prefer unexplored exits and places: repeating an action will \
not change its result."""

ACT_REPLY_SCORE = "Reply with the action to take, exactly as written in the list."

ACT_REPLY_JSON = """Reply with one JSON object: {{"reason_for_action": "...", "action_to_take": "<one \
action of the list>"}}."""

SECTION = "{number}. {title}: {body}"
"""One numbered item of the planner's and the actor's context [A:pipeline_arigraph.py ``planning``]."""

ACTIONS = """Possible actions in the current situation: {actions}

{reply}"""

SUMMARY = """Write a summary of what you know about the game so far, in at most three short paragraphs: \
the goal, what you found and where, what you did, and what is left to do.

1. Main goal: {goal}
2. Last observations and actions: {history}
3. Current observation: {observation}
4. Your previous summary: {summary}

Your summary:"""

IMPORTANCE = """On a scale from 1 to 10, where 1 is purely mundane (e.g. walking to a known place) and \
10 is extremely important (e.g. finding something the plan needs), rate how important this memory is.
Memory: {memory}
Current plan: {plan}
Answer with one number from 1 to 10."""

REFLECT = """You played a text game and {outcome}. Read the goal and your trajectory, then write a short \
reflection for your next attempt at the same game: in at most three sentences, say what went wrong and what \
you will do instead, naming the places, objects and actions that matter.

Main goal: {goal}

Your trajectory:
{trajectory}

Reflection:"""
