package hyperv_test

import (
	"fmt"
	"strings"

	"github.com/grainvm/grain/hyperv"
)

// A Windows Server 2012 R2 configuration (Virtual Machines/<GUID>.xml),
// cut down to the keys grain reads.
const exampleXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<configuration>
  <_83f8638b-8dca-4152-9eda-2ca8b33039b4_>
    <controller0>
      <drive0>
        <pathname type="string">D:\Hyper-V\web\Virtual Hard Disks\web.vhdx</pathname>
        <type type="string">VHD</type>
      </drive0>
    </controller0>
    <controller1>
      <drive0>
        <pathname type="string">D:\ISO\setup.iso</pathname>
        <type type="string">ISO</type>
      </drive0>
    </controller1>
  </_83f8638b-8dca-4152-9eda-2ca8b33039b4_>
  <properties>
    <global_id type="string">0AA394FA-7C4A-4070-BA32-773D43B28A68</global_id>
    <name type="string">web</name>
    <subtype type="integer">0</subtype>
    <version type="integer">1280</version>
  </properties>
</configuration>`

func ExampleReadXML() {
	vm, err := hyperv.ReadXML(strings.NewReader(exampleXML))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s generation %d, version %s\n", vm.Name, vm.ID, vm.Generation, vm.Version)
	for _, d := range vm.Disks {
		fmt.Printf("%s %d:%d %s %s\n", d.Controller, d.ControllerIndex, d.Location, d.Kind, d.Path)
	}
	// A disk is found beside the configuration or in the folders given;
	// here none exists.
	fmt.Printf("%q\n", hyperv.Locate(vm.Disks[0].Path, "", nil))
	// Output:
	// web 0AA394FA-7C4A-4070-BA32-773D43B28A68 generation 1, version 5.0
	// ide 0:0 disk D:\Hyper-V\web\Virtual Hard Disks\web.vhdx
	// ide 1:0 dvd D:\ISO\setup.iso
	// ""
}
