namespace Gguf2Qnn.Reference;
