module github.com/grainvm/grain

go 1.26
