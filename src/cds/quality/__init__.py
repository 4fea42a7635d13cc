"""Quality work on the engine's output: cohorts, batch screening, backtests, card analytics, KPIs, dashboard."""
