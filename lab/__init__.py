"""Memory Agent Lab.

``lab.core`` is the ground that ``envs`` and ``agents`` stand on: records, protocols, errors,
settings, the LLM layer and the torch policy core. Nothing in it imports from above. The rest of
``lab`` (run loop, run store, exporters, views, CLI, benches) is the top layer and may import
``envs`` and ``agents``.
"""

import os

# Before torch is first imported: idle OpenMP threads must sleep, not spin. On a small shared CPU,
# spinning threads made every forward pass 15-30x slower (measured: 9-19 s instead of 0.6-0.8 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
