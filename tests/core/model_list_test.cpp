// ModelList (the linked list under LRU, FIFO, SIEVE and S3-FIFO) against a std::list reference,
// on random operation mixes, plus its edge cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <list>
#include <vector>

#include "core/error.hpp"
#include "core/model_list.hpp"
#include "core/rng.hpp"

namespace brulee {
namespace {

std::vector<ModelId> walk_forward(const ModelList& list) {
  std::vector<ModelId> out;
  for (ModelId m = list.front(); m != kNoModel; m = list.next(m)) out.push_back(m);
  return out;
}

std::vector<ModelId> walk_backward(const ModelList& list) {
  std::vector<ModelId> out;
  for (ModelId m = list.back(); m != kNoModel; m = list.prev(m)) out.push_back(m);
  std::reverse(out.begin(), out.end());
  return out;
}

TEST(ModelList, MoveToFrontOfHeadMiddleTailAndAbsentModels) {
  ModelList list;
  for (ModelId m : {1u, 2u, 3u, 4u}) list.push_front(m);  // 4 3 2 1
  list.move_to_front(4);                                  // the head: nothing moves
  EXPECT_EQ(walk_forward(list), (std::vector<ModelId>{4, 3, 2, 1}));
  list.move_to_front(2);  // the middle
  EXPECT_EQ(walk_forward(list), (std::vector<ModelId>{2, 4, 3, 1}));
  list.move_to_front(1);  // the tail
  EXPECT_EQ(walk_forward(list), (std::vector<ModelId>{1, 2, 4, 3}));
  EXPECT_EQ(list.back(), 3u);
  list.move_to_front(9);  // never linked (beyond the arrays): not added
  list.unlink(2);
  list.move_to_front(2);  // unlinked: not added back
  EXPECT_FALSE(list.contains(2));
  EXPECT_FALSE(list.contains(9));
  EXPECT_EQ(walk_forward(list), (std::vector<ModelId>{1, 4, 3}));
  EXPECT_EQ(walk_backward(list), walk_forward(list));
  list.push_front(4);  // already linked: no change
  EXPECT_EQ(walk_forward(list), (std::vector<ModelId>{1, 4, 3}));
}

TEST(ModelList, SingleEntryAndEmptyList) {
  ModelList list;
  EXPECT_EQ(list.front(), kNoModel);
  EXPECT_EQ(list.back(), kNoModel);
  list.push_front(7);
  list.move_to_front(7);
  EXPECT_EQ(list.front(), 7u);
  EXPECT_EQ(list.back(), 7u);
  list.unlink(7);
  EXPECT_EQ(list.front(), kNoModel);
  EXPECT_EQ(list.back(), kNoModel);
  EXPECT_THROW(list.push_front(kNoModel), CacheError);
}

TEST(ModelList, MatchesAStdListOnRandomOperations) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    Rng rng(seed);
    ModelList list;
    std::list<ModelId> reference;  // front = head
    for (int step = 0; step < 2000; ++step) {
      const auto model = static_cast<ModelId>(rng.below(40));
      const bool linked = std::find(reference.begin(), reference.end(), model) != reference.end();
      ASSERT_EQ(list.contains(model), linked) << "seed " << seed << " step " << step;
      switch (rng.below(3)) {
        case 0:
          list.push_front(model);
          if (!linked) reference.push_front(model);
          break;
        case 1:
          list.unlink(model);
          reference.remove(model);
          break;
        default:
          list.move_to_front(model);
          if (linked) {
            reference.remove(model);
            reference.push_front(model);
          }
          break;
      }
      ASSERT_EQ(walk_forward(list), std::vector<ModelId>(reference.begin(), reference.end()))
          << "seed " << seed << " step " << step;
      ASSERT_EQ(walk_backward(list), walk_forward(list)) << "seed " << seed << " step " << step;
    }
  }
}

}  // namespace
}  // namespace brulee
