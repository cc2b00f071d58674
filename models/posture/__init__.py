"""The dynamic risk posture's models: what the market looks like now, as numbers a desk can read.

``market_state`` computes the posture's features from the book on every feed message (the one
definition training and serving share, with its own spec id and hash); ``model`` holds the
trained parts (robust centre and scale per feature, a realised-volatility forecast, a Gaussian
HMM's parameters, the thresholds) and serves them from a JSON artifact with plain arithmetic;
``train`` fits them offline (the ``train`` extra). The state machine that turns scores into
NORMAL / ELEVATED / STRESSED, and what each posture tightens, live in the service
(:mod:`service.posture.gate`): a model scores, the service decides.
"""
