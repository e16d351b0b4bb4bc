package ipvsadm

// Both the kernel client and its fake must fit Main.

import (
	"github.com/lvsctl/lvsctl/lvs/ipvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
)

var (
	_ Kernel           = (*ipvs.Client)(nil)
	_ ConnectionLister = (*ipvs.Client)(nil)
	_ Kernel           = (*ipvstest.Kernel)(nil)
	_ ConnectionLister = (*ipvstest.Kernel)(nil)
)
