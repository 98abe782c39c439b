// SPDX-License-Identifier: GPL-2.0

#include <linux/mm.h>

void *rust_helper_page_address(const struct page *page)
{
	return page_address(page);
}

unsigned long rust_helper_page_to_pfn(const struct page *page)
{
	return page_to_pfn(page);
}
