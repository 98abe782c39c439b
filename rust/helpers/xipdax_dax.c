// SPDX-License-Identifier: GPL-2.0

#include <linux/pfn_t.h>

pfn_t rust_helper_page_to_pfn_t(struct page *page)
{
	return page_to_pfn_t(page);
}
