#include <gtest/gtest.h>

#include <vector>

#include "core/cache_state.hpp"
#include "core/error.hpp"

using namespace brulee;

TEST(CacheState, CountsBytesAndResidency) {
  CacheState cache(100, 4);
  cache.insert(0, 30);
  cache.insert(2, 50);
  EXPECT_EQ(cache.used_bytes(), 80u);
  EXPECT_EQ(cache.free_bytes(), 20u);
  EXPECT_EQ(cache.evictable_bytes(), 80u);
  EXPECT_TRUE(cache.resident(0));
  EXPECT_FALSE(cache.resident(1));
  EXPECT_EQ(cache.bytes_of(2), 50u);
  EXPECT_EQ(cache.resident_count(), 2u);
  cache.remove(0);
  EXPECT_EQ(cache.used_bytes(), 50u);
  EXPECT_FALSE(cache.resident(0));
  ASSERT_EQ(cache.resident_models().size(), 1u);
  EXPECT_EQ(cache.resident_models()[0], 2u);
}

TEST(CacheState, NeverExceedsCapacity) {
  CacheState cache(100);
  cache.insert(7, 60);  // grows the model table on demand
  EXPECT_THROW(cache.insert(8, 41), CacheError);
  EXPECT_EQ(cache.used_bytes(), 60u);
  EXPECT_FALSE(cache.resident(8));
  EXPECT_THROW(cache.insert(7, 1), CacheError);  // already resident
  EXPECT_THROW(cache.resize(7, 101), CacheError);
  cache.resize(7, 100);
  EXPECT_EQ(cache.free_bytes(), 0u);
  EXPECT_THROW(cache.set_capacity(99), CacheError);
  cache.resize(7, 10);
  cache.set_capacity(10);
  EXPECT_EQ(cache.free_bytes(), 0u);
}

TEST(CacheState, PinsTrackEvictableBytes) {
  CacheState cache(100);
  cache.pin(3);  // a request waiting on a load pins a model before it is resident
  cache.insert(3, 40);
  cache.insert(4, 20);
  EXPECT_EQ(cache.evictable_bytes(), 20u);
  EXPECT_THROW(cache.remove(3), CacheError);
  cache.pin(3);
  cache.unpin(3);
  EXPECT_TRUE(cache.pinned(3));
  cache.unpin(3);
  EXPECT_FALSE(cache.pinned(3));
  EXPECT_EQ(cache.evictable_bytes(), 60u);
  EXPECT_THROW(cache.unpin(3), CacheError);
  cache.resize(4, 30);
  EXPECT_EQ(cache.evictable_bytes(), 70u);
  cache.remove(3);
  EXPECT_EQ(cache.evictable_bytes(), 30u);
}

class RecordingListener final : public UnpinListener {
 public:
  virtual ~RecordingListener() = default;
  void on_unpinned(ModelId model) override { heard.push_back(model); }
  std::vector<ModelId> heard;
};

TEST(CacheState, TellsTheListenerOnlyOfModelsItAskedAbout) {
  CacheState cache(100);
  RecordingListener listener;
  cache.set_unpin_listener(&listener);
  cache.insert(1, 10);
  cache.insert(2, 10);
  cache.pin(1);
  cache.pin(1);
  cache.pin(2);
  cache.notify_when_unpinned(1);
  cache.unpin(2);  // not asked about
  cache.unpin(1);  // still pinned once
  EXPECT_TRUE(listener.heard.empty());
  cache.unpin(1);
  EXPECT_EQ(listener.heard, (std::vector<ModelId>{1}));
  cache.pin(1);  // the notice was used up
  cache.unpin(1);
  EXPECT_EQ(listener.heard, (std::vector<ModelId>{1}));
}

TEST(CacheState, RejectsUnknownModels) {
  CacheState cache(10);
  EXPECT_THROW(cache.remove(1), CacheError);
  EXPECT_THROW(cache.insert(kNoModel, 1), CacheError);
  EXPECT_THROW(cache.unpin(5), CacheError);
}
