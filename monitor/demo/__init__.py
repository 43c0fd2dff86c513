"""The demo: a generated churn model meets feature drift, then concept drift (`driftline demo`)."""
