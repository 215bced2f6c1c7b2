// Model names, digests and listen addresses: canonical_model_name, the manifest path a name maps to, the blob
// path of a digest, parse_host_port.
// Properties: no crash; a name that maps to a manifest path never leaves the store (no "..", no empty or "."
// components, no NUL); a digest's blob path is <store>/blobs/sha256-<64 lowercase hex>; a canonical name is a
// fixed point (canonicalizing it again gives itself).
#include <string>

#include "fuzz_util.h"
#include "server/server.h"
#include "server/store.h"

using namespace berth;

namespace {

bool path_stays_inside(const std::string& path, const std::string& root) {
    if (path.rfind(root + "/", 0) != 0) return false;
    std::string rel = path.substr(root.size() + 1);
    if (rel.find('\0') != std::string::npos) return false;
    size_t start = 0;
    for (;;) {
        size_t end = rel.find('/', start);
        std::string part = rel.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (part.empty() || part == "." || part == "..") return false;
        if (end == std::string::npos) return true;
        start = end + 1;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::string root = "/store";

    Result<std::string> canonical = canonical_model_name(text);
    if (canonical.is_ok()) {
        Result<std::string> again = canonical_model_name(*canonical);
        if (!again.is_ok() || *again != *canonical) fuzz::fail("canonical_model_name is not idempotent");
    }
    std::string manifest = manifest_path_for(root, text);
    if (!manifest.empty() && !path_stays_inside(manifest, root)) fuzz::fail("a manifest path leaves the store");
    if (manifest.empty() != !canonical.is_ok()) fuzz::fail("names valid for one and not the other");

    Store store(root, {}, {});
    std::string blob = store.blob_path(text);
    if (!blob.empty()) {
        const std::string prefix = root + "/blobs/sha256-";
        if (blob.rfind(prefix, 0) != 0 || blob.size() != prefix.size() + 64) fuzz::fail("malformed blob path");
        for (size_t i = prefix.size(); i < blob.size(); ++i) {
            char c = blob[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) fuzz::fail("blob path is not lowercase hex");
        }
    }

    std::string host;
    int port = 11434;  // kept when the text names no port
    if (parse_host_port(text, host, port).is_ok() && (port < 0 || port > 65535)) fuzz::fail("port out of range");
    return 0;
}
