"""HTTP plumbing shared by the feature routers."""
