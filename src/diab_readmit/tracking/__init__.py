"""MLflow tracking of every ``kedro run`` and a mirror of the model registry in MLflow's."""
