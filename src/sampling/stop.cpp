#include "sampling/sampling.h"
