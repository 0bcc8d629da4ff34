
runtimeoptions.v1.Options/nonexistent/runtime.toml