"""Views of runs for the Streamlit pages and the HTML report: the reusable memory view and step panels.

Modules:

* :mod:`lab.views.layout`: stable force-directed positions (once per run, over the latest snapshot);
* :mod:`lab.views.graph`: the memory graph as a plotly figure, highlights per step, node details;
* :mod:`lab.views.records`: records tables and memory-change rows (one step, or trial end to trial end);
* :mod:`lab.views.charts`: memory size, score and overlaid curves, the timings strip, aggregates over seeds;
* :mod:`lab.views.env`: MiniGrid frames re-rendered from seed + actions, the TextWorld rooms map;
* :mod:`lab.views.data`: cached store reads (only the shown step; per-run columns);
* :mod:`lab.views.memory`, :mod:`lab.views.panels`, :mod:`lab.views.navigator`: Streamlit components;
* :mod:`lab.views.hooks`: the optional per-agent hook ``agents/<pkg>/views.py``::

      def figures(snapshot: MemorySnapshot, step: Step) -> list[plotly.graph_objects.Figure]

  whose figures appear in an expander under the memory view (see :func:`lab.views.hooks.agent_figures`);
* :mod:`lab.views.usage`: tokens and cost per run (Runs, Compare), from :mod:`lab.pricing`;
* :mod:`lab.views.demo`: a recorded demo run with a graph memory (benchmarks, screenshots, tests).

Everything is generic over :class:`lab.core.records.MemorySnapshot`: no agent needs a special case.
The pure modules (layout, graph, records, charts, env) import no Streamlit.
"""
