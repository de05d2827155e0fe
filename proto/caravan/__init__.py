"""Generated gRPC/protobuf stubs for the API in ``proto/caravan/*.proto``."""
