// Service registry and the shared call-completion helpers.
#include "shimcore/transport/service_registry.h"

namespace shimcore::transport {

std::string_view CallContext::metadata_value(std::string_view key) const noexcept {
  for (const auto& [name, value] : metadata) {
    if (name == key) return value;
  }
  return {};
}

std::string_view CallContext::namespace_name() const noexcept {
  std::string_view name = metadata_value("containerd-namespace-ttrpc");
  return name.empty() ? metadata_value("containerd-namespace") : name;
}

Service& Service::add_unary(std::string method, UnaryHandler handler) {
  methods_.insert_or_assign(std::move(method), Method{std::move(handler), {}});
  return *this;
}

Service& Service::add_server_stream(std::string method, ServerStreamHandler handler) {
  methods_.insert_or_assign(std::move(method), Method{{}, std::move(handler)});
  return *this;
}

const Method* Service::find(std::string_view method) const noexcept {
  const auto it = methods_.find(method);
  return it == methods_.end() ? nullptr : &it->second;
}

void ServiceRegistry::add(Service service) {
  const std::string name = service.name();
  if (services_.contains(name)) throw make_error(ErrorKind::AlreadyExists, "service {} is already registered", name);
  services_.emplace(name, std::make_shared<const Service>(std::move(service)));
}

void ServiceRegistry::add_alias(std::string alias, std::string_view existing) {
  const auto it = services_.find(existing);
  if (it == services_.end()) throw make_error(ErrorKind::NotFound, "service {} is not registered", existing);
  if (services_.contains(alias)) throw make_error(ErrorKind::AlreadyExists, "service {} is already registered", alias);
  std::shared_ptr<const Service> target = it->second;
  services_.emplace(std::move(alias), std::move(target));
}

const Service* ServiceRegistry::find_service(std::string_view name) const noexcept {
  const auto it = services_.find(name);
  return it == services_.end() ? nullptr : it->second.get();
}

std::vector<std::string> ServiceRegistry::service_names() const {
  std::vector<std::string> names;
  names.reserve(services_.size());
  for (const auto& entry : services_) names.push_back(entry.first);
  return names;
}

Lookup lookup_method(const ServiceRegistry& registry, std::string_view service, std::string_view method) {
  const Service* found = registry.find_service(service);
  if (found == nullptr) return {nullptr, RpcStatus::of(ErrorKind::Unimplemented, "service " + std::string(service))};
  const Method* entry = found->find(method);
  if (entry == nullptr) return {nullptr, RpcStatus::of(ErrorKind::Unimplemented, "method " + std::string(method))};
  return {entry, {}};
}

void complete_with_errors(Responder& responder, const std::function<void()>& body) noexcept {
  try {
    body();
  } catch (const Error& error) {
    responder.fail(RpcStatus::from_error(error));
  } catch (const std::exception& error) {
    responder.fail(RpcStatus::of(ErrorKind::Unknown, error.what()));
  } catch (...) {
    responder.fail(RpcStatus::of(ErrorKind::Unknown, "unknown exception"));
  }
}

}  // namespace shimcore::transport
