module example.com/calcplug

go 1.19
