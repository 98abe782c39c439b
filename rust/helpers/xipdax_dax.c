// SPDX-License-Identifier: GPL-2.0

#include <linux/pfn_t.h>

pfn_t rust_helper___pfn_to_pfn_t(unsigned long pfn, u64 flags)
{
	return __pfn_to_pfn_t(pfn, flags);
}

unsigned long rust_helper_pfn_t_to_pfn(pfn_t pfn)
{
	return pfn_t_to_pfn(pfn);
}
