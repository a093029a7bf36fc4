"""`hostbench export`: the same launch, written for an orchestrator a team already runs
(a Kubernetes Deployment and Service, a KServe InferenceService, a compose file)."""

from workflows.export.build import ExportRequest, Target, build_export, to_yaml

__all__ = ["ExportRequest", "Target", "build_export", "to_yaml"]
