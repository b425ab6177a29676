"""Environment adapters (TextWorld, MiniGrid) behind one registry: ``envs.registry``."""
