"""The learned frame recommender of Yin et al. (CVPR 2021), section 3: a Bi-LSTM double-DQN agent.

- :mod:`.model`    the Q-network (per-frame (q, h) -> Bi-LSTM over frames -> one Q value per frame)
- :mod:`.env`      the RL environment (a 25-frame window of a sequence + backend + davisinteractive's
                   robot, cached through :class:`ivosw_bench.episode.EpisodeCache`)
- :mod:`.train`    random-policy baseline, rewards, double Q-learning, :func:`train_agent`
- :mod:`.strategy` :class:`AgentStrategy`, the ``agent`` strategy of the benchmark
"""
