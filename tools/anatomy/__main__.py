from tools.anatomy import main

main()
