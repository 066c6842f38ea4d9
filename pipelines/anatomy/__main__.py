from pipelines.anatomy import main

main()
