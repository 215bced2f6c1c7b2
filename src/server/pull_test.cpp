#include <gtest/gtest.h>
#include <httplib.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/pull.h"

namespace berth {
namespace fs = std::filesystem;

TEST(ModelRef, ParsesOllamaNames) {
    auto a = parse_model_ref("llama3.2");
    ASSERT_TRUE(a.is_ok());
    EXPECT_EQ(a->manifest_rel_path(), "manifests/registry.ollama.ai/library/llama3.2/latest");
    EXPECT_EQ(a->display(), "llama3.2:latest");
    auto b = parse_model_ref("user/model:q4");
    ASSERT_TRUE(b.is_ok());
    EXPECT_EQ(b->manifest_rel_path(), "manifests/registry.ollama.ai/user/model/q4");
    auto c = parse_model_ref("127.0.0.1:5000/library/tiny:v1");
    ASSERT_TRUE(c.is_ok());
    EXPECT_EQ(c->host, "127.0.0.1:5000");
    EXPECT_EQ(c->tag, "v1");
    EXPECT_EQ(c->display(), "127.0.0.1:5000/library/tiny:v1");
    for (const char* bad : {"", "../etc/passwd", "a/../b", "a/b/c/d", "model:..", "x y", "a//b", ".hidden", "m:t/a"})
        EXPECT_FALSE(parse_model_ref(bad).is_ok()) << bad;
}

TEST(ModelRef, BlobNamesAreValidated) {
    std::string hex(64, 'a');
    EXPECT_EQ(*blob_file_name("sha256:" + hex), "sha256-" + hex);
    EXPECT_EQ(*blob_file_name("sha256-" + std::string(64, 'A')), "sha256-" + hex);
    EXPECT_FALSE(blob_file_name("sha256:../../x").is_ok());
    EXPECT_FALSE(blob_file_name("sha256:" + std::string(63, 'a')).is_ok());
    EXPECT_FALSE(blob_file_name("md5:" + hex).is_ok());
}

// A registry on loopback: one model whose weights blob is cut off mid-transfer the first time it is asked for.
class LocalRegistry {
  public:
    explicit LocalRegistry(bool corrupt) {
        weights_ = std::string(300000, '\0');
        for (size_t i = 0; i < weights_.size(); i++) weights_[i] = char(i * 7 + i / 251);
        config_ = R"({"model_format":"gguf","model_family":"llama"})";
        std::string served = weights_;
        if (corrupt) served[1000] ^= 1;
        weights_digest_ = "sha256:" + sha256_of(weights_);
        config_digest_ = "sha256:" + sha256_of(config_);
        nlohmann::json m = {{"schemaVersion", 2},
                            {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
                            {"config", {{"digest", config_digest_}, {"size", config_.size()}}},
                            {"layers",
                             {{{"mediaType", "application/vnd.ollama.image.model"},
                               {"digest", weights_digest_},
                               {"size", weights_.size()}}}}};
        manifest_ = m.dump();
        srv_.Get("/v2/library/tiny/manifests/latest", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(manifest_, "application/vnd.docker.distribution.manifest.v2+json");
        });
        srv_.Get("/v2/library/tiny/blobs/" + config_digest_, [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(config_, "application/json");
        });
        srv_.Get("/v2/library/tiny/blobs/" + weights_digest_,
                 [this, served](const httplib::Request& req, httplib::Response& res) {
                     int n = ++weight_requests_;
                     if (req.has_header("Range")) ranged_requests_++;
                     if (n == 1) {
                         // First try: announce the whole blob, send a third, then drop the connection.
                         std::string body = served;
                         res.set_content_provider(body.size(), "application/octet-stream",
                                                  [body](size_t off, size_t len, httplib::DataSink& sink) {
                                                      if (off >= body.size() / 3) return false;
                                                      size_t n = std::min(len, body.size() / 3 - off);
                                                      sink.write(body.data() + off, n);
                                                      return true;
                                                  });
                         return;
                     }
                     res.set_content(served, "application/octet-stream");  // httplib answers Range requests with 206
                 });
        port_ = srv_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { srv_.listen_after_bind(); });
        for (int i = 0; i < 500 && !srv_.is_running(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ~LocalRegistry() {
        srv_.stop();
        thread_.join();
    }
    static std::string sha256_of(const std::string& s) {
        // One file per process and call: CTest runs the Pull tests in parallel processes.
        static int n = 0;
        std::string p = testing::TempDir() + "/berth_sha_tmp." + std::to_string(getpid()) + "." + std::to_string(n++);
        std::ofstream(p, std::ios::binary) << s;
        auto h = sha256_file(p);
        fs::remove(p);
        return *h;
    }
    std::string name() const { return "127.0.0.1:" + std::to_string(port_) + "/library/tiny"; }
    httplib::Server srv_;
    std::thread thread_;
    int port_ = 0;
    std::string weights_, config_, manifest_, weights_digest_, config_digest_;
    std::atomic<int> weight_requests_{0}, ranged_requests_{0};
};

PullOptions test_options(const std::string& dir, std::vector<PullProgress>* events) {
    PullOptions o;
    o.models_dir = dir;
    o.insecure = true;
    o.low_speed_time_s = 5;
    o.progress = [events](const PullProgress& p) {
        events->push_back(p);
        return true;
    };
    return o;
}

TEST(Pull, InterruptedDownloadResumesAndIsVerified) {
    LocalRegistry reg(false);
    std::string dir = testing::TempDir() + "/berth_pull_ok";
    fs::remove_all(dir);
    std::vector<PullProgress> events;
    Status st = pull_model(reg.name(), test_options(dir, &events));
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_EQ(reg.weight_requests_.load(), 2);
    EXPECT_EQ(reg.ranged_requests_.load(), 1);  // the second request continued where the first stopped
    std::string hex = reg.weights_digest_.substr(7);
    fs::path blob = fs::path(dir) / "blobs" / ("sha256-" + hex);
    ASSERT_TRUE(fs::exists(blob));
    EXPECT_EQ(*sha256_file(blob.string()), hex);
    EXPECT_FALSE(fs::exists(blob.string() + "-partial"));
    fs::path manifest =
        fs::path(dir) / "manifests" / ("127.0.0.1:" + std::to_string(reg.port_)) / "library" / "tiny" / "latest";
    ASSERT_TRUE(fs::exists(manifest));
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.front().status, "pulling manifest");
    EXPECT_EQ(events.back().status, "success");
    bool verified = false;
    for (auto& e : events) verified |= e.status == "verifying sha256 digest";
    EXPECT_TRUE(verified);
    // A second pull finds every blob in place and downloads nothing.
    Status again = pull_model(reg.name(), test_options(dir, &events));
    EXPECT_TRUE(again.is_ok());
    EXPECT_EQ(reg.weight_requests_.load(), 2);
    fs::remove_all(dir);
}

TEST(Pull, CorruptedBlobIsRefused) {
    LocalRegistry reg(true);
    std::string dir = testing::TempDir() + "/berth_pull_bad";
    fs::remove_all(dir);
    std::vector<PullProgress> events;
    Status st = pull_model(reg.name(), test_options(dir, &events));
    ASSERT_FALSE(st.is_ok());
    EXPECT_NE(st.message().find("digest mismatch"), std::string::npos) << st.message();
    std::string hex = reg.weights_digest_.substr(7);
    EXPECT_FALSE(fs::exists(fs::path(dir) / "blobs" / ("sha256-" + hex)));
    EXPECT_FALSE(fs::exists(fs::path(dir) / "blobs" / ("sha256-" + hex + "-partial")));
    EXPECT_FALSE(fs::exists(fs::path(dir) / "manifests"));  // no manifest for a model that failed
    fs::remove_all(dir);
}

TEST(Pull, UnknownModelIsNotFound) {
    LocalRegistry reg(false);
    std::vector<PullProgress> events;
    std::string dir = testing::TempDir() + "/berth_pull_missing";
    Status st = pull_model("127.0.0.1:" + std::to_string(reg.port_) + "/library/nothere", test_options(dir, &events));
    EXPECT_EQ(st.code(), StatusCode::not_found) << st.message();
    fs::remove_all(dir);
}

}  // namespace berth
