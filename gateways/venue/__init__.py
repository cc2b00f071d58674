"""The simulated FIX venue: a quickfix acceptor over the sim matching engine, with market data."""
