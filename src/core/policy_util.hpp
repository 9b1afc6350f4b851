#pragma once
// Kept only for src/sim/prefetch.cpp, which includes it: the building blocks it gathered now
// live in one header each. Include those instead; this file goes once prefetch.cpp does.
#include "core/heap_policy.hpp"       // HeapPolicy, select_from_heap
#include "core/model_list.hpp"        // ModelList, ListPolicy
#include "core/per_model.hpp"         // PerModel, ModelBits
#include "core/victim_selection.hpp"  // keep_largest_needed, select_lowest_scan
